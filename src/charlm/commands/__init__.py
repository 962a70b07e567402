"""The console scripts, one module each (`charlm-train` is `charlm.commands.train`, ...).

A command reads its options, asks the library (`charlm.train`, `charlm.inference`, the model's
data from `charlm.data.registry`, ...) and prints; it holds no logic another command or a
notebook would need, and imports no other command.
"""
