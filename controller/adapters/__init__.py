"""Plant connections behind one interface (``controller.adapters.base.Adapter``)."""
