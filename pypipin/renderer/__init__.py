"""The Node renderer: its npm packages, its process under procmon, and the client that asks it to draw."""
