"""Passwords that appear at the top of every breach list (ASVS 6.2.4 asks to refuse them).

Compared in lower case, also after stripping trailing digits and symbols ("Password123!" is "password").
Kept short on purpose: length (8+) already removes most of the public top lists; this catches the rest.
"""

from __future__ import annotations

COMMON_PASSWORDS = frozenset("""
password passw0rd password1 password12 password123 password1234 motdepasse motdepasse1 azerty azertyuiop
azertyui azerty123 azerty1234 qwerty qwertyui qwertyuiop qwerty123 qwerty1234 qwertz qwertzui 123456789
12345678 1234567890 0123456789 987654321 87654321 11111111 00000000 22222222 12341234 123123123 12121212
11223344 112233445566 123456789a 1q2w3e4r 1q2w3e4r5t 1qaz2wsx 1qazxsw2 zaq12wsx qazwsxedc abcd1234 abc12345
abcdefgh abcdefg1 aaaaaaaa iloveyou iloveyou1 sunshine princess football baseball basketball welcome
welcome1 welcome123 letmein letmein1 monkey dragon master michael superman batman trustno1 starwars
whatever shadow jennifer jordan23 freedom computer internet secret secret123 soleil bonjour bonjour1
chocolat doudou loulou marseille nicolas alexandre jetaime jetaime1 changeme changeme1 default admin
admin123 administrator root toor test1234 testtest guest1234 user1234 login123 access pass1234 passpass
sommeil vacances printemps automne hiver ete2024 hiver2024 summer2024 winter2024 spring2024 autumn2024
summer winter spring autumn football1 liverpool arsenal chelsea juventus barcelona realmadrid
pokemon naruto minecraft fortnite roblox samsung iphone google facebook linkedin youtube twitter
microsoft windows apple macbook linux ubuntu oracle server company entreprise societe energie
electricite reseau portail certificat certificate
""".split())
