"""Job ids for crontab lines: the name of the program a line runs, made unique.

``cd / && run-parts --report /etc/cron.daily`` is ``cron.daily``, ``[ -x /usr/lib/php/sessionclean ]
&& /usr/lib/php/sessionclean`` is ``sessionclean``, ``nice -n 19 /usr/local/bin/backup.sh`` is
``backup``. Guards (``cd``, ``test``, ``[``), shell keywords, ``VAR=value`` prefixes and wrappers
(``nice``, ``flock``, ``timeout``, an interpreter before its script) are looked through, and so
are redirections (``>/dev/null 2>&1``) and ``$(...)`` substitutions, which are arguments. The same
file always gives the same ids, so ``import`` and ``run`` on a crontab agree; a second job with
the same name gets ``-2``, a third ``-3``.
"""

from __future__ import annotations

import re
import shlex

_SEPARATORS = {"&&", "||", ";", "|", "&", ";;", "|&", "(", ")", "\n"}
_REDIRECTIONS = {">", ">>", "<", "<<", "<<<", ">&", "<&", "&>", "&>>", ">|", "<>"}
_PUNCTUATION = re.compile(r"[;&|()<>]+")
#: The shell's operators, longest first, to split a run of punctuation into.
_OPERATOR = re.compile(r"&>>|<<<|&&|\|\||;;|\|&|>>|<<|>&|<&|&>|>\||<>|[;&|()<>]")
_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "time", "exec",
             "command", "builtin"}
#: Commands that check or prepare rather than do the job.
_GUARDS = {"cd", "test", "[", "[[", ":", "true", "false", "fi", "done", "export", "umask", "sleep",
           "set", "source", ".", "exit", "ulimit", "mkdir", "echo", "printf", "date", "logger"}
#: Wrappers: the program they run is the job's name. Values of the options that take one.
_WRAPPERS: dict[str, set[str]] = {
    "nice": {"-n", "--adjustment"},
    "ionice": {"-c", "-n", "-p", "--class", "--classdata"},
    "chrt": {"-p"},
    "taskset": set(),
    "nohup": set(),
    "env": {"-u", "-C", "--unset", "--chdir"},
    "sudo": {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "--user", "--group"},
    "runuser": {"-u", "-g", "-G", "--user", "--group"},
    "chronic": set(),
    "run-one": set(),
    "cronic": set(),
    "systemd-cat": {"-t", "-p", "--identifier", "--priority"},
    "setsid": set(),
    "stdbuf": {"-i", "-o", "-e"},
}
#: Wrappers whose first plain argument is theirs (a duration, a lock file), not the program.
_TAKES_ONE_ARGUMENT = {"timeout": {"-s", "-k", "--signal", "--kill-after"},
                       "flock": {"-w", "-E", "--timeout", "--conflict-exit-code"}}
_INTERPRETERS = re.compile(r"(ba|da|z|k)?sh|python[0-9.]*|perl[0-9.]*|php[0-9.]*|ruby[0-9.]*|"
                           r"node|bash|lua[0-9.]*")
_EXTENSIONS = re.compile(r"\.(sh|bash|py|pl|php|rb|js|lua|cron)$")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.@:-]+")


def program_name(command: str) -> str:
    """A short name for what ``command`` runs: its program's base name, without extension."""
    commands = _simple_commands(_words(command))
    for simple in commands:
        name = _name_in(simple)
        if name:
            return name
    for simple in commands:  # only guards (``date >> /var/log/ticks``): the first program, then
        words = [word for word in simple if word not in _KEYWORDS and not _ASSIGNMENT.match(word)]
        if words:
            return _clean(_base(words[0]))
    return "job"


def unique_ids(names: list[str]) -> list[str]:
    """``names`` made unique in order: ``backup``, ``backup-2``, ``backup-3``."""
    taken: set[str] = set()
    result = []
    for name in names:
        candidate, counter = name, 1
        while candidate in taken:
            counter += 1
            candidate = f"{name}-{counter}"
        taken.add(candidate)
        result.append(candidate)
    return result


def _words(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        words = list(lexer)
    except ValueError:  # unbalanced quotes: the shell will say so; a name is still wanted
        words = command.replace(";", " ; ").replace("&&", " && ").replace("||", " || ").split()
    return [part for word in words for part in _operators(word)]


def _operators(word: str) -> list[str]:
    """A run of punctuation (``));``, ``>>``) split into the shell's operators."""
    if not _PUNCTUATION.fullmatch(word):
        return [word]
    return _OPERATOR.findall(word)


def _simple_commands(words: list[str]) -> list[list[str]]:
    """The words of each simple command, without redirections and ``$(...)`` substitutions:
    ``echo at $(date) >> /var/log/x`` is ``echo at``, the program it runs and its arguments."""
    commands: list[list[str]] = [[]]
    depth = 0  # inside a $( ) substitution, which is an argument, not the line's program
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if depth:
            depth += {"(": 1, ")": -1}.get(word, 0)
        elif word == "(" and index > 1 and words[index - 2].endswith("$"):
            depth = 1
        elif word in _REDIRECTIONS:
            if commands[-1] and commands[-1][-1].isdigit():
                commands[-1].pop()  # 2>&1: the 2 belongs to the redirection
            index += 1  # its target
        elif word in _SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    return [command for command in commands if command]


def _name_in(words: list[str]) -> str | None:
    """The program of one simple command, or None for a guard or a keyword alone."""
    index = 0
    while index < len(words) and (words[index] in _KEYWORDS or _ASSIGNMENT.match(words[index])):
        index += 1
    words = words[index:]
    if not words or _base(words[0]) in _GUARDS or words[0].startswith("-"):
        return None  # ``command -v prog``, like ``test``, only checks
    program, rest = _base(words[0]), words[1:]
    if program in _WRAPPERS or program in _TAKES_ONE_ARGUMENT:
        return _name_in(_after_options(program, rest))
    if program == "run-parts":
        targets = [word for word in rest if not word.startswith("-")]
        return _clean(_base(targets[-1])) if targets else "run-parts"
    if _INTERPRETERS.fullmatch(program):
        script = _script(rest)
        # Inline code (``perl -e 'sleep 5'``) names nothing: look further along the line.
        return _clean(_base(script)) if script else None
    return _clean(program)


def _after_options(program: str, words: list[str]) -> list[str]:
    with_value = _WRAPPERS.get(program) or _TAKES_ONE_ARGUMENT.get(program, set())
    index = 0
    while index < len(words) and words[index].startswith("-") and words[index] != "--":
        index += 2 if words[index] in with_value else 1
    if index < len(words) and words[index] == "--":
        index += 1
    if program in _TAKES_ONE_ARGUMENT:
        index += 1
    return words[index:]


def _script(words: list[str]) -> str | None:
    """The script an interpreter runs: its first argument that is not an option."""
    for word in words:
        if word in ("-c", "-r", "-e"):  # code follows, not a file
            return None
        if word == "-m":  # python -m package.module: the module's last part
            following = words[words.index(word) + 1 :]
            return following[0].rsplit(".", 1)[-1] if following else None
        if not word.startswith("-"):
            return word
    return None


def _base(word: str) -> str:
    return word.rstrip("/").rsplit("/", 1)[-1]


def _clean(name: str) -> str:
    name = _NOT_IN_ID.sub("-", _EXTENSIONS.sub("", name)).strip("-.")
    return name or "job"
