"""Studies: ``qgan study run`` trains block after block until the verdict is in (:mod:`qgan.study.runner`),
each block a DVC pipeline in a workspace of its own (:mod:`qgan.study.workspace`), the values accumulating in
a committed file that any clone continues (:mod:`qgan.study.record`); ``qgan study show`` reads it back
(:mod:`qgan.study.summary`). The spec is ``studies/<name>.yaml`` (:mod:`qgan.study.spec`)."""
