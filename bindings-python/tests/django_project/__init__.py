"""A small Django project that drives tessera.django in the tests."""
