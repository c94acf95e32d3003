"""glassnet.classifiers: the models.

    Softmax, LinearSVM, LinearClassifier   linear classifiers (linear_classifier.py)
    neural_net.TwoLayerNet                 the stand-alone two-layer net with its own train()
    TwoLayerNet, FullyConnectedNet         modular fully connected nets (fc_net.py)
    ThreeLayerConvNet, ConvNet             modular convolutional nets (cnn.py)
    Model, load_model                      the shared base class and pickle-free loading

``TwoLayerNet`` here is the modular ``fc_net.TwoLayerNet``; the stand-alone one is
``glassnet.classifiers.neural_net.TwoLayerNet``. Importing this package registers every
model class, so ``load_model`` can rebuild any of them.
"""
from glassnet.classifiers import linear_svm, neural_net, softmax  # noqa: F401 - registers
from glassnet.classifiers.base import Model, load_model
from glassnet.classifiers.cnn import ConvNet, ThreeLayerConvNet
from glassnet.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from glassnet.classifiers.linear_classifier import LinearClassifier, LinearSVM, Softmax

__all__ = ["Softmax", "LinearSVM", "LinearClassifier", "TwoLayerNet", "FullyConnectedNet",
           "ThreeLayerConvNet", "ConvNet", "Model", "load_model"]
