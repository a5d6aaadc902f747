"""The batch grader's code that runs outside its own process, on a private copy of the checks: in each
submission's kernel (:func:`grade`, the grading cell) and in each worker (this file run as a script).

Neither imports the checks from the disk, where a submission could have changed them: the grader reads
this file and the check modules once, when the batch starts, and sends their text. The grading cell runs
this file's text in a namespace of its own and calls :func:`grade`; a worker is ``python -c`` with this
file's text, and reads what it grades on its stdin (:func:`start_worker`). Both load the checks with
:func:`load_package`, as a package of a random name. Only the standard library is imported here.
"""

import io
import json
import signal
import sys
import types


def load_package(package_name, modules):
    """Load ``modules`` ({name: source}) as the package ``package_name``: core, then __init__, then the
    rest in the order given (the helpers the lessons import before the lessons). Returns ``(core, load)``,
    ``load(name, source)`` loading one more module into the package."""
    package = types.ModuleType(package_name)
    package.__path__ = []
    package.__package__ = package_name
    sys.modules[package_name] = package

    def load(name, source):
        full = package_name if name == "__init__" else package_name + "." + name
        module = package if name == "__init__" else types.ModuleType(full)
        module.__package__ = package_name
        module.__file__ = "<grader copy of grading/" + name + ".py>"
        sys.modules[full] = module
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        if name != "__init__":
            setattr(package, name, module)
        return module

    core = load("core", modules["core"])
    load("__init__", modules["__init__"])
    core.lessons_loaded()  # the lesson modules come from the grader, not from the disk
    for name, source in modules.items():
        if name not in ("core", "__init__"):
            load(name, source)
    return core, load


def grade(user_ns, token, package_name, modules, extra, wanted, check_seconds):
    """In the submission's kernel, after its cells: check every exercise in ``wanted`` against the answer
    ``user_ns`` (the notebook's namespace) binds to its name, each within ``check_seconds``, and send each
    verdict, as JSON after ``token``, on a line of its own."""
    out = sys.stdout
    try:  # a display message reaches the grader even when a cell left sys.stdout redirected
        from IPython import get_ipython
        publish = get_ipython().display_pub.publish
    except Exception:
        publish = None

    def emit(payload):
        line = token + json.dumps(payload)
        if publish is not None:
            publish(data={"text/plain": line})
        else:
            out.write("\n" + line + "\n")
            out.flush()

    try:
        core, _ = load_package(package_name, modules)
        if extra is not None:
            core.load_checks_file(extra[1], extra[0])
    except BaseException as error:
        emit({"fatal": "could not load the checks: %s: %s" % (type(error).__name__, error)})
        return

    class Sink(io.TextIOBase):
        def write(self, text):
            return len(text)

    def on_alarm(signum, frame):
        raise core.TimeLimitExceeded()

    try:
        previous = signal.signal(signal.SIGALRM, on_alarm)
    except (ValueError, AttributeError):  # not the main thread, or no SIGALRM on this system
        previous = None
    for ex in core.exercises():
        if ex.id not in wanted:
            continue
        emit({"start": ex.id})
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = Sink()  # what the student's code prints while checked is not kept
        try:
            if previous is not None:
                signal.setitimer(signal.ITIMER_REAL, check_seconds)
            value = user_ns.get(ex.answer, core.NOT_DEFINED)
            status, message = core.evaluate(ex, value, check_seconds)
        except BaseException as error:
            status, message = core.INCORRECT, "checking stopped: %s" % type(error).__name__
        finally:
            if previous is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = saved
        emit({"id": ex.id, "status": status, "message": message})
    if previous is not None:
        signal.signal(signal.SIGALRM, previous)
    emit({"done": True})


def start_worker():
    """In a worker: read the grader's payload on stdin, load the checks and then the grader's own modules
    (``payload["runner"]``, in order: the grader last), and grade the one submission
    (``grader.worker_main``). Returns the exit status."""
    payload = json.loads(sys.stdin.read())
    core, load = load_package(payload["package"], payload["modules"])
    if payload["extra"] is not None:
        core.load_checks_file(payload["extra"][1], payload["extra"][0])
    runner = None
    for name, source in payload["runner"].items():
        runner = load(name, source)
    return runner.worker_main(payload)


if __name__ == "__main__":
    sys.exit(start_worker())
