"""The apps tests/test_multiprocess.py runs under gunicorn -w 4: configured from the environment
(``TESSERA_MP_STORE``, ``TESSERA_MP_PEPPER``), each answer naming the worker's pid."""
