/*
 * A stand-in for the vendor's LClient.dll (seed 002, chapter 5), for tests only.
 *
 * Same exports and signatures: cdecl on Linux; on Windows (mingw, test/windows) __stdcall exports
 * with undecorated names (-Wl,--kill-at), as the vendor's 32-bit DLL has. Behaviour comes from a script file whose path is the
 * `host` argument of LClientStart/LClientStartDemo, read at the first start of the process; the
 * cursor survives LClientStop/LClientStart like the real DLL's global state would. Lines are raw
 * bytes (the test writes pop text in GBK); `#` starts a comment line.
 *
 *   log <path>        append a line per call to <path> (not a step)
 *   state <path>      keep the cursors (steps, start codes) in <path>, so a new process (after
 *                     a crash, a kill or a restart) carries on where the last one stopped (not a step)
 *   start <code>      the next LClientStart returns <code> (queued in order; default 0)
 *   pop <bytes>       one receive returns a pop: the rest of the line, NUL-terminated
 *   empty <n>         n receives return -100
 *   code <n>          one receive returns n (e.g. -201) with nothing in the buffer
 *   sleep <ms>        one receive sleeps <ms>, then returns -100 (a slow call)
 *   gate <path>       receives return -100 until <path> exists
 *   fill <n> <byte>   one receive writes n copies of <byte> with no NUL and returns 1
 *   exit <status>     the process dies in the middle of a receive (_exit)
 *
 * When the script is used up every receive returns -100. Built with -DNO_DEMO it lacks the Demo
 * pair (a library with a missing export).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <windows.h>
#include <process.h>
#define API __declspec(dllexport) __stdcall
#define PID() ((long)GetCurrentProcessId())
#define TID() ((long)GetCurrentThreadId())
static void sleep_ms(long ms) { Sleep((DWORD)ms); }
#else
#include <unistd.h>
#include <sys/syscall.h>
#define API
#define PID() ((long)getpid())
#define TID() ((long)syscall(SYS_gettid))
static void sleep_ms(long ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}
#endif

#define MAX_STEPS 65536
#define MAX_LINE 8192

enum kind { POP, EMPTY, CODE, SLEEP, GATE, FILL, EXIT };

struct step {
  enum kind kind;
  long n;
  long m;
  char *text;
};

static struct step steps[MAX_STEPS];
static int nsteps = -1; /* -1: not loaded yet */
static int cursor = 0;
static long emptied = 0; /* receives already answered by the current `empty` step */
static int starts[256];
static int nstarts = 0, startcursor = 0;
static char logpath[MAX_LINE] = "";
static char statepath[MAX_LINE] = "";
static int lasterror = 0;
static char strbuf[MAX_LINE];

static void note(const char *fmt, const char *a, long n) {
  if (!logpath[0]) return;
  FILE *f = fopen(logpath, "ab");
  if (!f) return;
  fprintf(f, "pid=%ld tid=%ld ", PID(), TID());
  fprintf(f, fmt, a ? a : "", n);
  fputc('\n', f);
  fclose(f);
}

static void save(void) {
  if (!statepath[0]) return;
  FILE *f = fopen(statepath, "wb");
  if (!f) return;
  fprintf(f, "%d %d\n", cursor, startcursor);
  fclose(f);
}

static void advance(void) {
  cursor++;
  save();
}

static int load(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  static char line[MAX_LINE];
  nsteps = 0;
  while (fgets(line, sizeof line, f) && nsteps < MAX_STEPS) {
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (!len || line[0] == '#') continue;
    char *arg = strchr(line, ' ');
    if (arg) *arg++ = 0; else arg = line + len;
    struct step *s = &steps[nsteps];
    memset(s, 0, sizeof *s);
    if (!strcmp(line, "log")) { snprintf(logpath, sizeof logpath, "%s", arg); continue; }
    if (!strcmp(line, "state")) { snprintf(statepath, sizeof statepath, "%s", arg); continue; }
    if (!strcmp(line, "start")) { if (nstarts < 256) starts[nstarts++] = atoi(arg); continue; }
    if (!strcmp(line, "pop")) { s->kind = POP; s->text = strdup(arg); }
    else if (!strcmp(line, "empty")) { s->kind = EMPTY; s->n = atol(arg); }
    else if (!strcmp(line, "code")) { s->kind = CODE; s->n = atol(arg); }
    else if (!strcmp(line, "sleep")) { s->kind = SLEEP; s->n = atol(arg); }
    else if (!strcmp(line, "gate")) { s->kind = GATE; s->text = strdup(arg); }
    else if (!strcmp(line, "fill")) { s->kind = FILL; s->n = strtol(arg, &arg, 10); s->m = strtol(arg, NULL, 10); }
    else if (!strcmp(line, "exit")) { s->kind = EXIT; s->n = atol(arg); }
    else continue;
    nsteps++;
  }
  fclose(f);
  if (statepath[0] && (f = fopen(statepath, "rb"))) {
    int n = fscanf(f, "%d %d", &cursor, &startcursor);
    if (n < 1) cursor = 0;
    if (n < 2) startcursor = 0;
    fclose(f);
  }
  return 0;
}

static int start(const char *what, const char *host, const char *port, const char *oper, const char *ch, int flag) {
  if (nsteps < 0 && load(host) < 0) {
    lasterror = -1;
    return -1;
  }
  char args[MAX_LINE];
  snprintf(args, sizeof args, "%s port=%s oper=%s ch=%s", what, port ? port : "(null)", oper ? oper : "(null)", ch ? ch : "(null)");
  int rc = 0;
  if (startcursor < nstarts) {
    rc = starts[startcursor++];
    save();
  }
  note("%s flag=%ld", args, flag);
  if (flag) {
    /* the real DLL prints its steps (GBK) when flag is 1 */
    printf("LClientStart: \xc1\xac\xbd\xd3 port %s\n", port ? port : "");
    fflush(stdout);
  }
  note("start-result %s%ld", "", rc);
  if (rc) lasterror = rc;
  return rc;
}

/* One receive: fills `data` (may be NULL for the Str form, then strbuf is used). */
static int receive(const char *what, char *data) {
  char *out = data ? data : strbuf;
  for (;;) {
    if (nsteps < 0 || cursor >= nsteps) return -100;
    struct step *s = &steps[cursor];
    switch (s->kind) {
      case POP:
        advance();
        strcpy(out, s->text);
        note("%s pop %ld", what, (long)strlen(s->text));
        return (int)strlen(s->text) + 1;
      case EMPTY:
        if (emptied < s->n) { emptied++; return -100; }
        emptied = 0;
        advance();
        continue;
      case CODE:
        advance();
        note("%s code %ld", what, s->n);
        lasterror = (int)s->n;
        return (int)s->n;
      case SLEEP: {
        advance();
        note("%s sleep %ld", what, s->n);
        sleep_ms(s->n);
        return -100;
      }
      case GATE: {
        struct stat st;
        if (stat(s->text, &st) != 0) return -100;
        advance();
        continue;
      }
      case FILL:
        advance();
        memset(out, (int)s->m, (size_t)s->n);
        note("%s fill %ld", what, s->n);
        return 1;
      case EXIT:
        advance();
        note("%s exit %ld", what, s->n);
        _exit((int)s->n);
    }
  }
}

int API LClientStart(char *host, char *port, char *oper, char *ch, int flag) { return start("start", host, port, oper, ch, flag); }
int API LClientRcv(char *data) { return receive("rcv", data); }
#ifndef NO_DEMO
int API LClientStartDemo(char *host, char *port, char *oper, char *ch, int flag) { return start("startdemo", host, port, oper, ch, flag); }
int API LClientRcvDemo(char *data) { return receive("rcvdemo", data); }
#endif

char *API LClientRcvStr(void) {
  int rc = receive("rcvstr", NULL);
  if (rc < 0) snprintf(strbuf, sizeof strbuf, "%d", rc);
  return strbuf;
}

int API LClientStop(void) {
  note("stop%s", "", 0);
  return 0;
}

int API LClientGetError(void) {
  note("geterror %s%ld", "", lasterror);
  return lasterror;
}
