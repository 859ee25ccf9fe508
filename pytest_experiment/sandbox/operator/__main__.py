import sys

from pytest_experiment.sandbox.operator.main import main

sys.exit(main())
