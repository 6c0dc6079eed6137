"""Django-free helpers shared by the web apps, the pipeline and the simulator."""
