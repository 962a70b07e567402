"""Where `TextDataModule` was defined before the DataModules of language data were one family;
it now lives in `charlm.data.datamodule` and is read from there."""

from charlm.data.datamodule import TextDataModule

__all__ = ["TextDataModule"]
