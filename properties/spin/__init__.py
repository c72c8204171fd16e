"""The SPIN backend of the exhaustive search: the spec's transition system in Promela
(``tcpclose.pml``, ``invariants.pml``, completed per configuration by ``promela.py``) and its
driver (``driver.py``). tests/test_spin.py holds it equal to the spec and to the Python explorer."""
