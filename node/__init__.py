"""plansync node: the server every office (province, city, county) runs."""

__version__ = "0.1.0"
