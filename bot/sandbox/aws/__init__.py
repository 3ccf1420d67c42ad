"""The simulated AWS estate: moto behind one gateway with our own stand-ins (see :mod:`.materialise`)."""

from bot.sandbox.aws.materialise import AwsEstate, MotoServer, materialise_aws

__all__ = ["AwsEstate", "MotoServer", "materialise_aws"]
