"""Wrong (and right) answers to the course's exercises, written independently of the checkers.

One module per lesson. For each exercise, `WRONG_<EXERCISE>` and `RIGHT_<EXERCISE>` are lists of
`(label, function)`: the function has the stub's signature (see each module's docstring where a
list holds something else, e.g. an optimiser factory), and its docstring names the mistake in
plain words. They were written from what a student sees (the lesson's task, the stub, the
library functions the task points to), before the checkers or their tests were read, so that
the checkers can be tested against mistakes their authors did not think of. RESULTS.md records
what each lesson's checker said to each answer.
"""
