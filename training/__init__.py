"""Training of setpoint policies (stable-baselines3), and their export as ONNX policy bundles."""
