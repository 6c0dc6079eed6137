"""fangpin (防贫): monitoring and assistance to keep rural households out of poverty."""

__version__ = "0.1.0"
