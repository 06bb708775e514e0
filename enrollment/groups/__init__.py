"""Groups of a company: the services they grant and the perimeter (connection points) they see."""
