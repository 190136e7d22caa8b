"""Model generators (`lockstep model`, docs/models.md) and the ONNX graph builder they share with
the example scripts of examples/models/."""
