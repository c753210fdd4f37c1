"""Plant connections behind one interface (``coolpilot.controller.adapters.base.Adapter``)."""
