/* The perf map writer.

   The problem.  perf(1) symbolizes addresses in anonymous executable memory
   (JIT code, our trampolines) with a text file, /tmp/perf-<pid>.map, one
   line per code range:

       <start, hex without 0x> <size, hex without 0x> <name>\n

   perf reads the file only when it reports, and ignores it unless it is
   owned by the profiling user (or root).  It stays behind after the process
   exits, on purpose.

   The mechanism.  One writer per process, shared by the "perf" trampoline
   backend and by the PyUnstable_* perf map API that other JITs (Cython
   modules, Cinder-style compilers) call, so all of them produce a single
   consistent file.  Lines are formatted into a 64 KiB buffer and written
   with write(2) in whole lines.  Writing after every line costs measurable
   CPU in large applications, so the buffer is flushed only:
     - when it is full;
     - when a trampoline backend is deactivated or switched;
     - before fork() (the child must not inherit pending lines);
     - at interpreter exit and in os._exit();
     - 50 ms after the first pending line was buffered, by a flusher
       thread, so a long-running process has a current file whenever
       someone runs `perf report` (or a live sampler such as bpftrace) on
       it, even one that never blocks or releases the GIL;
     - when the GIL is released while data has waited 50 ms or more (the
       fallback if the flusher thread cannot be started);
     - on PyUnstable_PerfMapState_Fini().

   Safety.  The file is opened with O_NOFOLLOW and mode 0600 and must be a
   regular file owned by our effective user, with a single name: a
   symlink, a hard link or someone else's file planted at the predictable
   path is refused, never written through.  A file of our own last
   written before this process started is the leftover of an earlier
   process with the same pid: it is emptied (and given mode 0600) rather
   than appended to; only the first open of a process tests this (see
   map_opened_pid).  Names are sanitized (control characters, C1 ones and
   U+2028/U+2029 included, become '?') so that a function named
   "f\n0 0 forged" cannot add a line, and long names are cut.  A failed
   write (full disk, RLIMIT_FSIZE) truncates the file back to its last
   complete line: perf never sees a torn line.

   Invariants.  All state is in _PyRuntime.perf.map and protected by its
   mutex, because foreign JITs may call the API without the GIL.  The buffer
   is allocated with the C library's malloc() on first use and freed at
   close: the API may be called before Py_Initialize() and after
   Py_Finalize(), and PyMem_RawMalloc()'s allocator (PYTHONMALLOC=debug)
   may differ between the two.  In
   a fork child the parent's descriptor is closed without writing to it and
   the child writes /tmp/perf-<childpid>.map.

   The flusher thread is started on the first buffered line of a process
   (again in a fork child; it is stopped before fork()), sleeps on a
   condition variable while the buffer is empty, blocks every signal, and
   takes the same mutex as every writer.  Closing the writer (exit,
   os._exit(), PyUnstable_PerfMapState_Fini()) stops and joins it.  If it
   cannot be started, the other flush points still apply.  A flush it
   fails is reported by the next _PyPerfMap_Flush() or
   _PyPerfMap_MaybeFlush(), which run where a warning can be issued.
*/

#include "Python.h"
#include "pycore_perf.h"          // _PyPerfMap_Write()
#include "pycore_runtime.h"       // _PyRuntime

#ifdef PY_HAVE_PERF_TRAMPOLINE

#include <errno.h>                // errno, EINTR
#include <fcntl.h>                // open(), O_NOFOLLOW, O_CLOEXEC
#include <inttypes.h>             // PRIxPTR
#include <pthread.h>              // pthread_mutex_lock(), pthread_create()
#include <signal.h>               // sigfillset(), pthread_sigmask()
#include <stdio.h>                // snprintf()
#include <stdlib.h>               // malloc(), free(), strtoull()
#include <string.h>               // strerror(), memcpy()
#include <sys/stat.h>             // fstat(), fchmod(), S_ISREG()
#include <time.h>                 // clock_gettime(), CLOCK_*
#include <unistd.h>               // write(), getpid(), geteuid(), sysconf()

#define map_state (_PyRuntime.perf.map)

/* The size of the map at the fork() in progress (_PyPerfMap_BeforeFork()
   to the after-fork hooks), or -1: a fork that skipped PyOS_BeforeFork()
   copies the whole file. */
static off_t fork_map_size = -1;

/* The process that has opened (or created) its map before, or 0.  Its
   later opens (after PyUnstable_PerfMapState_Fini(), or a Py_Finalize()
   and Py_Initialize() cycle) never take the file for a leftover: all of
   it was written by this process, and the start-time test, which compares
   two wall-clock times, goes wrong when the clock steps forward between
   the two (NTP, a VM resume).  A fork child has another pid and exec()
   another copy of this variable: the first open of either still tests.
   Lock held. */
static long map_opened_pid = 0;

#define MAP_BUFFER_SIZE (64 * 1024)
#define MAP_NAME_MAX 4096

static int64_t
monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Write all of buf, looping on short writes and EINTR.  Returns the number
   of bytes written; less than len means an error, with errno set. */
static size_t
write_all(int fd, const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (n == 0) {
            errno = EIO;
            break;
        }
        done += (size_t)n;
    }
    return done;
}

/* Read a small /proc file into buf (NUL-terminated).  0 or -1. */
static int
read_proc_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return len > 0 ? 0 : -1;
}

/* When this process started, in seconds on the clock clock_id
   (CLOCK_REALTIME: since the epoch), or -1 if the kernel does not say.
   /proc/self/stat field 22 is the start in clock ticks after boot, rounded
   down; CLOCK_BOOTTIME is the time since boot on the same clock (in a time
   namespace, both are shifted alike).  exec() keeps the start time. */
double
_PyPerf_ProcessStartTime(int clock_id)
{
    char buf[4096];
    if (read_proc_file("/proc/self/stat", buf, sizeof(buf)) < 0) {
        return -1;
    }
    /* The command name (field 2) is in parentheses and may contain
       anything: count fields from the last ')', which ends field 2. */
    char *p = strrchr(buf, ')');
    if (p == NULL) {
        return -1;
    }
    unsigned long long ticks = 0;
    int field = 2;
    while (*p != '\0' && field < 22) {
        if (*p == ' ') {
            field++;
            if (field == 22) {
                ticks = strtoull(p + 1, NULL, 10);
            }
        }
        p++;
    }
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec now, boot;
    if (field != 22 || hz <= 0
        || clock_gettime((clockid_t)clock_id, &now) != 0
        || clock_gettime(CLOCK_BOOTTIME, &boot) != 0)
    {
        return -1;
    }
    double since_boot = (double)boot.tv_sec + boot.tv_nsec / 1e9;
    return (double)now.tv_sec + now.tv_nsec / 1e9
           - (since_boot - (double)ticks / hz);
}

/* Whether the file st, at one of this pid's perf paths, was last written
   before this process started: then it is a leftover of an earlier
   process that had our pid, and its lines would name our addresses after
   that process's functions.  A file written since (by a code generator in
   this process, through this API or not, or by this process's image
   before an exec(), which keeps the start time) is ours to append to.  A
   second of slack covers the tick rounding and small clock adjustments; a
   leftover that recent is kept, and so is any file when the kernel does
   not tell the start time.  The jitdump writer uses it too. */
int
_PyPerf_WrittenBeforeStart(const struct stat *st)
{
    double start = _PyPerf_ProcessStartTime(CLOCK_REALTIME);
    double mtime = (double)st->st_mtim.tv_sec + st->st_mtim.tv_nsec / 1e9;
    return start > 0 && mtime < start - 1.0;
}

int
_PyPerf_HasOneName(const char *path, const struct stat *st)
{
    if (st->st_nlink > 1) {
        _PyPerf_SetError("%s has %lu hard links; refusing to write to it",
                         path, (unsigned long)st->st_nlink);
        return 0;
    }
    return 1;
}

/* Open (or reopen, after fork) this process's map.  Lock held. */
static int
open_locked(void)
{
    long pid = (long)getpid();
    if (map_state.fd >= 0 && map_state.pid == pid) {
        return 0;
    }
    if (map_state.fd >= 0) {
        /* Inherited from the parent: never write to the parent's file. */
        close(map_state.fd);
        map_state.fd = -1;
        map_state.len = 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/tmp/perf-%ld.map", pid);
    /* O_NONBLOCK: opening a FIFO planted at the path would otherwise
       block until someone opens it for reading, i.e. forever.  It makes
       no difference to a regular file. */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW
                        | O_CLOEXEC | O_NONBLOCK, 0600);
    if (fd < 0) {
        if (errno == ELOOP) {
            _PyPerf_SetError("%s is a symbolic link; refusing to write "
                             "through it", path);
        }
        else if (errno == ENXIO) {
            _PyPerf_SetError("%s is a FIFO or a socket; refusing to write "
                             "to it", path);
        }
        else {
            _PyPerf_SetError("cannot open %s: %s", path, strerror(errno));
        }
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        _PyPerf_SetError("cannot stat %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* A file planted at the predictable path is never written to: not
       through a symlink (O_NOFOLLOW), nor when it is another user's.  A
       hard link can make a file of our own user (or root's, where
       fs.protected_hardlinks is off) appear here; emptying or appending
       to it would damage the file it was linked from.  A map that this
       writer created never has a second name. */
    if (!S_ISREG(st.st_mode)) {
        _PyPerf_SetError("%s exists and is not a regular file; refusing "
                         "to write to it", path);
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        _PyPerf_SetError("%s is owned by uid %ld, not by this user; "
                         "refusing to write to it", path, (long)st.st_uid);
        close(fd);
        return -1;
    }
    if (!_PyPerf_HasOneName(path, &st)) {
        close(fd);
        return -1;
    }
    if (st.st_size > 0 && map_opened_pid != pid
        && _PyPerf_WrittenBeforeStart(&st))
    {
        /* Start afresh, with the mode of a file we create. */
        if (ftruncate(fd, 0) < 0 || fchmod(fd, 0600) < 0) {
            _PyPerf_SetError("cannot reset %s, left by an earlier process "
                             "with the same pid: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (map_state.buf == NULL) {
        map_state.buf = malloc(MAP_BUFFER_SIZE);
        if (map_state.buf == NULL) {
            _PyPerf_SetError("out of memory for the perf map buffer");
            close(fd);
            return -1;
        }
    }
    map_state.fd = fd;
    map_state.pid = pid;
    map_state.len = 0;
    map_state.dirty_ns = 0;
    map_opened_pid = pid;
    return 0;
}

/* Write out the buffer.  On failure nothing partial stays in the file: it
   is cut back to its last complete line, and the pending lines are
   dropped (they would fail again).  Lock held. */
static int
flush_locked(void)
{
    if (map_state.fd < 0 || map_state.len == 0) {
        map_state.dirty_ns = 0;
        return 0;
    }
    off_t start = lseek(map_state.fd, 0, SEEK_END);
    size_t done = write_all(map_state.fd, map_state.buf, map_state.len);
    int result = 0;
    if (done < map_state.len) {
        int err = errno;
        if (start >= 0) {
            size_t keep = done;
            while (keep > 0 && map_state.buf[keep - 1] != '\n') {
                keep--;
            }
            if (keep < done) {
                (void)ftruncate(map_state.fd, start + (off_t)keep);
            }
        }
        _PyPerf_SetError("cannot write /tmp/perf-%ld.map: %s",
                         map_state.pid, strerror(err));
        result = -1;
    }
    map_state.len = 0;
    map_state.dirty_ns = 0;
    return result;
}

/* ---- The flusher thread, one per writer (see _PyPerfFlusher) ---- */

/* A condition variable that waits on CLOCK_MONOTONIC (the clock of
   dirty_ns).  Called before each start of the thread. */
static void
init_wake(_PyPerfFlusher *f)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&f->wake, &attr);
    pthread_condattr_destroy(&attr);
}

static void *
flusher_main(void *arg)
{
    _PyPerfFlusher *f = arg;
    pthread_mutex_lock(f->lock);
    while (!f->stop) {
        if (*f->dirty_ns == 0 || f->error) {
            pthread_cond_wait(&f->wake, f->lock);
            continue;
        }
        int64_t deadline = *f->dirty_ns + _PyPerf_FLUSH_DELAY_NS;
        if (monotonic_ns() >= deadline) {
            if (f->flush() < 0) {
                /* Make the next thread that releases the GIL look (see
                   _PyPerfFlusher); sleep until it has taken the error. */
                f->error = 1;
                *f->dirty_ns = 1;
            }
            continue;
        }
        struct timespec ts = {
            .tv_sec = (time_t)(deadline / 1000000000),
            .tv_nsec = (long)(deadline % 1000000000),
        };
        (void)pthread_cond_timedwait(&f->wake, f->lock, &ts);
    }
    pthread_mutex_unlock(f->lock);
    return NULL;
}

/* pid while a thread joins the flusher (_PyPerfFlusher_Stop()). */
#define FLUSHER_STOPPING (-2)

/* Start the flusher thread in this process.  A failure (thread limits,
   RLIMIT_AS) is not an error: the GIL-release and exit flushes remain.
   Lock held. */
static void
start_flusher(_PyPerfFlusher *f, long pid)
{
    /* Mark the attempt first: never retry on every line. */
    f->pid = pid;
    f->stop = 0;
    init_wake(f);
    /* The thread inherits this mask: signals stay with Python's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    int err = pthread_attr_init(&attr);
    if (err == 0) {
        (void)pthread_attr_setstacksize(&attr, 64 * 1024);
        err = pthread_create(&f->thread, &attr, flusher_main, f);
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        f->pid = -1;            /* none in this process */
    }
}

/* Not while another thread is stopping it: the next dirty buffer after
   that starts it. */
void
_PyPerfFlusher_Notify(_PyPerfFlusher *f, pthread_mutex_t *lock,
                      int64_t *dirty_ns, int (*flush)(void), long pid)
{
    if (f->pid == pid) {
        pthread_cond_signal(&f->wake);
        return;
    }
    if (f->pid == -1 || f->pid == FLUSHER_STOPPING) {
        return;
    }
    f->lock = lock;
    f->dirty_ns = dirty_ns;
    f->flush = flush;
    start_flusher(f, pid);
}

/* Two threads may stop it at once (the PyUnstable_* API is called without
   the GIL): only the first joins; the other finds FLUSHER_STOPPING and
   goes on, which is safe because 'stop' stays set until the join is over,
   so the flusher touches nothing more once it gets the lock. */
void
_PyPerfFlusher_Stop(_PyPerfFlusher *f)
{
    if (f->pid != (long)getpid()) {
        return;
    }
    pthread_t thread = f->thread;
    f->pid = FLUSHER_STOPPING;
    f->stop = 1;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(f->lock);
    pthread_join(thread, NULL);
    pthread_mutex_lock(f->lock);
    f->pid = 0;
    f->stop = 0;
}

int
_PyPerfFlusher_TakeError(_PyPerfFlusher *f)
{
    if (f->error) {
        f->error = 0;
        return -1;
    }
    return 0;
}

void
_PyPerfFlusher_AfterForkChild(_PyPerfFlusher *f, pthread_mutex_t *lock)
{
    pthread_mutex_init(lock, NULL);
    f->error = 0;
    /* Nor is anybody stopping one here (a parent thread may have been). */
    if (f->pid == FLUSHER_STOPPING || f->pid == -1) {
        f->pid = 0;
        f->stop = 0;
    }
}

/* Format one line into the buffer.  Lock held, map open. */
static int
append_line_locked(const void *code_addr, size_t code_size,
                   const char *entry_name)
{
    char line[MAP_NAME_MAX + 64];
    int n = snprintf(line, sizeof(line), "%" PRIxPTR " %zx ",
                     (uintptr_t)code_addr, code_size);
    size_t len = (size_t)n;
    size_t name_len = strlen(entry_name);
    int truncated = 0;
    if (name_len > MAP_NAME_MAX) {
        /* At most MAP_NAME_MAX bytes with the "...", as documented. */
        name_len = MAP_NAME_MAX - 3;
        while (name_len > 0
               && ((unsigned char)entry_name[name_len] & 0xc0) == 0x80)
        {
            name_len--;
        }
        truncated = 1;
    }
    len += _PyPerf_SanitizeName(line + len, entry_name, name_len);
    if (truncated) {
        memcpy(line + len, "...", 3);
        len += 3;
    }
    line[len++] = '\n';
    if (map_state.len + len > MAP_BUFFER_SIZE) {
        if (flush_locked() < 0) {
            return -1;
        }
    }
    memcpy(map_state.buf + map_state.len, line, len);
    map_state.len += len;
    if (map_state.dirty_ns == 0) {
        map_state.dirty_ns = monotonic_ns();
        _PyPerfFlusher_Notify(&map_state.flusher, &map_state.lock,
                              &map_state.dirty_ns, flush_locked,
                              map_state.pid);
    }
    return 0;
}

int
_PyPerfMap_Open(void)
{
    pthread_mutex_lock(&map_state.lock);
    int result = open_locked();
    pthread_mutex_unlock(&map_state.lock);
    return result;
}

int
_PyPerfMap_Write(const void *code_addr, size_t code_size,
                 const char *entry_name)
{
    pthread_mutex_lock(&map_state.lock);
    int result = open_locked();
    if (result == 0) {
        result = append_line_locked(code_addr, code_size, entry_name);
    }
    pthread_mutex_unlock(&map_state.lock);
    return result;
}

int
_PyPerfMap_Flush(void)
{
    if (map_state.pid != (long)getpid()) {
        /* A child of fork() that PyOS_AfterFork_Child() has not seen (an
           os.execv() or os._exit() after a fork by C code): the buffer is
           the parent's, and so may be the lock, held by a thread that does
           not exist here.  (Unlocked read: only open_locked() writes pid,
           in the process that owns the map.) */
        return 0;
    }
    pthread_mutex_lock(&map_state.lock);
    int result = flush_locked();
    if (_PyPerfFlusher_TakeError(&map_state.flusher) < 0) {
        result = -1;
    }
    pthread_mutex_unlock(&map_state.lock);
    return result;
}

int
_PyPerfMap_MaybeFlush(void)
{
    /* Unlocked peek: a stale value only delays or advances a flush. */
    if (map_state.dirty_ns == 0 && !map_state.flusher.error) {
        return 0;
    }
    if (pthread_mutex_trylock(&map_state.lock) != 0) {
        return 0;
    }
    int result = _PyPerfFlusher_TakeError(&map_state.flusher);
    if (map_state.dirty_ns != 0
        && monotonic_ns() - map_state.dirty_ns >= _PyPerf_FLUSH_DELAY_NS
        && map_state.pid == (long)getpid()
        && flush_locked() < 0)
    {
        result = -1;
    }
    pthread_mutex_unlock(&map_state.lock);
    return result;
}

int
_PyPerfMap_Close(void)
{
    pthread_mutex_lock(&map_state.lock);
    _PyPerfFlusher_Stop(&map_state.flusher);
    int result = _PyPerfFlusher_TakeError(&map_state.flusher);
    if (map_state.fd >= 0) {
        if (map_state.pid == (long)getpid() && flush_locked() < 0) {
            result = -1;
        }
        close(map_state.fd);
        map_state.fd = -1;
    }
    free(map_state.buf);
    map_state.buf = NULL;
    map_state.len = 0;
    map_state.dirty_ns = 0;
    pthread_mutex_unlock(&map_state.lock);
    return result;
}

void
_PyPerfMap_BeforeFork(void)
{
    /* Held across fork() so that the child never sees a half-updated
       buffer; released in both processes afterwards.  The flusher thread
       is stopped first: a process with no other threads forks as one
       (qemu-user, for one, cannot fork a process whose other threads are
       running guest code), and the child would not inherit it anyway. */
    pthread_mutex_lock(&map_state.lock);
    _PyPerfFlusher_Stop(&map_state.flusher);
    /* What a persist-after-fork child copies: the parent's map as it is
       now.  The parent goes on appending while the child copies, lines
       for slots that the child will give to its own functions. */
    struct stat st;
    fork_map_size = map_state.fd >= 0 && fstat(map_state.fd, &st) == 0
                    ? st.st_size : -1;
}

void
_PyPerfMap_AfterForkParent(void)
{
    /* Lines buffered since the flush before fork() need the flusher
       again; otherwise the next line starts it. */
    long pid = (long)getpid();
    if (map_state.dirty_ns != 0 && map_state.pid == pid) {
        _PyPerfFlusher_Notify(&map_state.flusher, &map_state.lock,
                              &map_state.dirty_ns, flush_locked, pid);
    }
    fork_map_size = -1;
    pthread_mutex_unlock(&map_state.lock);
}

/* Append the contents of a map file to ours: its first limit bytes (the
   parent's map as it was at fork()), and never more than it held when the
   copy started.  Only a regular file other than our own map is copied:
   the read loop ends at end of file, which a FIFO or a device such as
   /dev/zero may never reach, and a file that grows while it is copied
   (our own map above all, whose every write we would read back) would
   fill the file system.  Lock held, map open. */
static int
copy_file_locked(const char *filename, off_t limit)
{
    if (flush_locked() < 0) {
        return -1;
    }
    /* O_NONBLOCK: opening a FIFO would block until a writer comes. */
    int src = open(filename, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (src < 0) {
        _PyPerf_SetError("cannot open %s: %s", filename, strerror(errno));
        return -1;
    }
    struct stat src_st, map_st;
    if (fstat(src, &src_st) != 0 || fstat(map_state.fd, &map_st) != 0) {
        _PyPerf_SetError("cannot copy %s: stat failed: %s", filename,
                         strerror(errno));
        close(src);
        return -1;
    }
    if (!S_ISREG(src_st.st_mode)) {
        _PyPerf_SetError("%s is not a regular file; refusing to copy it",
                         filename);
        close(src);
        return -1;
    }
    if (src_st.st_dev == map_st.st_dev && src_st.st_ino == map_st.st_ino) {
        _PyPerf_SetError("%s is this process's own map "
                         "/tmp/perf-%ld.map; refusing to copy it into "
                         "itself", filename, map_state.pid);
        close(src);
        return -1;
    }
    if (limit < 0 || limit > src_st.st_size) {
        limit = src_st.st_size;
    }
    off_t start = lseek(map_state.fd, 0, SEEK_END);
    char chunk[8192];
    char last = '\n';
    int result = 0;
    off_t copied = 0;
    while (copied < limit) {
        size_t want = sizeof(chunk);
        if ((off_t)want > limit - copied) {
            want = (size_t)(limit - copied);
        }
        ssize_t n = read(src, chunk, want);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            _PyPerf_SetError("cannot read %s: %s", filename,
                             strerror(errno));
            result = -1;
            break;
        }
        if (n == 0) {
            break;              /* shrunk since the fstat() */
        }
        if (write_all(map_state.fd, chunk, (size_t)n) < (size_t)n) {
            _PyPerf_SetError("cannot write /tmp/perf-%ld.map: %s",
                             map_state.pid, strerror(errno));
            result = -1;
            break;
        }
        last = chunk[n - 1];
        copied += n;
    }
    if (result == 0 && last != '\n') {
        /* Never leave the next line glued to a partial one. */
        if (write_all(map_state.fd, "\n", 1) < 1) {
            _PyPerf_SetError("cannot write /tmp/perf-%ld.map: %s",
                             map_state.pid, strerror(errno));
            result = -1;
        }
    }
    if (result < 0 && start >= 0) {
        (void)ftruncate(map_state.fd, start);
    }
    close(src);
    return result;
}

int
_PyPerfMap_AfterForkChild(int persist)
{
    /* Only this thread exists now; the mutex may have been held by the
       forking thread: make it fresh.  There was no flusher thread at the
       fork (_PyPerfMap_BeforeFork() stopped it); the child starts its own,
       with a fresh condition variable, with its first line.  A failed
       flush of the parent's is the parent's to report. */
    _PyPerfFlusher_AfterForkChild(&map_state.flusher, &map_state.lock);
    int result = 0;
    off_t parent_size = fork_map_size;
    fork_map_size = -1;
    if (map_state.fd < 0) {
        return 0;
    }
    long parent = map_state.pid;
    /* Drop the parent's descriptor and whatever it had buffered (flushed
       before fork()), without writing to the parent's file. */
    close(map_state.fd);
    map_state.fd = -1;
    map_state.len = 0;
    map_state.dirty_ns = 0;
    if (persist) {
        char path[64];
        snprintf(path, sizeof(path), "/tmp/perf-%ld.map", parent);
        result = open_locked();
        if (result == 0) {
            result = copy_file_locked(path, parent_size);
        }
        if (result == 0) {
            result = 1;
        }
    }
    return result;
}


/* ------------------------------------------------------------------ */
/* The "perf" trampoline backend                                      */

static int
map_backend_write(const _PyPerf_CodeInfo *info)
{
    return _PyPerfMap_Write(info->code_addr, info->code_size, info->name);
}

static int
map_backend_after_fork_child(int persist)
{
    /* _PyPerfMap_AfterForkChild() already did everything. */
    return 0;
}

/* Parse one map line (without its newline) and report it. */
static void
report_line(char *line, size_t len, _PyPerf_FoundFunc found, void *arg)
{
    line[len] = '\0';
    char *end;
    errno = 0;
    unsigned long long addr = strtoull(line, &end, 16);
    if (end == line || *end != ' ' || errno != 0) {
        return;
    }
    char *size = end + 1;
    (void)strtoull(size, &end, 16);
    if (end == size || *end != ' ') {
        return;
    }
    found((uintptr_t)addr, end + 1, arg);
}

/* Every complete line of this process's map (the C API's lines too: they
   name their own addresses).  The file is read through a descriptor of
   its own, opened by name and checked to be the file the writer holds
   (which is write-only).  Lines too long to be a writer's are skipped. */
static int
map_backend_scan_written(_PyPerf_FoundFunc found, void *arg)
{
    int result = -1;
    pthread_mutex_lock(&map_state.lock);
    if (map_state.fd < 0 || map_state.pid != (long)getpid()) {
        goto done;
    }
    char path[64];
    snprintf(path, sizeof(path), "/tmp/perf-%ld.map", map_state.pid);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        goto done;
    }
    struct stat ours, named;
    char *line = malloc(MAP_NAME_MAX + 64);
    if (line != NULL && fstat(map_state.fd, &ours) == 0
        && fstat(fd, &named) == 0 && ours.st_dev == named.st_dev
        && ours.st_ino == named.st_ino)
    {
        size_t len = 0;
        int skipping = 0;
        char chunk[8192];
        for (;;) {
            ssize_t n = read(fd, chunk, sizeof(chunk));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                result = n == 0 ? 0 : -1;
                break;
            }
            for (ssize_t i = 0; i < n; i++) {
                if (chunk[i] == '\n') {
                    if (!skipping) {
                        report_line(line, len, found, arg);
                    }
                    len = 0;
                    skipping = 0;
                }
                else if (len < MAP_NAME_MAX + 63) {
                    line[len++] = chunk[i];
                }
                else {
                    skipping = 1;
                }
            }
        }
    }
    free(line);
    close(fd);
done:
    pthread_mutex_unlock(&map_state.lock);
    return result;
}

const _PyPerf_Backend _PyPerf_MapBackend = {
    .name = "perf",
    .open = _PyPerfMap_Open,
    .write_code = map_backend_write,
    .flush = _PyPerfMap_Flush,
    .close = _PyPerfMap_Flush,      /* the manager closes the writer */
    .after_fork_child = map_backend_after_fork_child,
    .scan_written = map_backend_scan_written,
};


/* ------------------------------------------------------------------ */
/* Public unstable C API                                              */

int
PyUnstable_PerfMapState_Init(void)
{
    return _PyPerfMap_Open() < 0 ? -1 : 0;
}

int
PyUnstable_WritePerfMapEntry(const void *code_addr, unsigned int code_size,
                             const char *entry_name)
{
    return _PyPerfMap_Write(code_addr, code_size, entry_name) < 0 ? -1 : 0;
}

void
PyUnstable_PerfMapState_Fini(void)
{
    if (_PyRuntime.perf.backend == &_PyPerf_MapBackend) {
        /* The trampolines still write here: keep the file open. */
        (void)_PyPerfMap_Flush();
    }
    else {
        (void)_PyPerfMap_Close();
    }
}

int
PyUnstable_CopyPerfMapFile(const char *parent_filename)
{
    pthread_mutex_lock(&map_state.lock);
    int result = open_locked();
    if (result == 0) {
        result = copy_file_locked(parent_filename, -1);
    }
    pthread_mutex_unlock(&map_state.lock);
    return result < 0 ? -1 : 0;
}

#else  /* !PY_HAVE_PERF_TRAMPOLINE */

int _PyPerfMap_Open(void) { return -1; }
int
_PyPerfMap_Write(const void *code_addr, size_t code_size,
                 const char *entry_name)
{
    return -1;
}
int _PyPerfMap_Flush(void) { return 0; }
int _PyPerfMap_Close(void) { return 0; }
int _PyPerfMap_MaybeFlush(void) { return 0; }
void _PyPerfMap_BeforeFork(void) { }
void _PyPerfMap_AfterForkParent(void) { }
int _PyPerfMap_AfterForkChild(int persist) { return 0; }

int PyUnstable_PerfMapState_Init(void) { return -1; }
int
PyUnstable_WritePerfMapEntry(const void *code_addr, unsigned int code_size,
                             const char *entry_name)
{
    return -1;
}
void PyUnstable_PerfMapState_Fini(void) { }
int PyUnstable_CopyPerfMapFile(const char *parent_filename) { return -1; }

#endif  /* PY_HAVE_PERF_TRAMPOLINE */
