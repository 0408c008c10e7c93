"""One module per `emolive` sub-command: ``configure(parser)`` and ``run(args) -> int``."""
