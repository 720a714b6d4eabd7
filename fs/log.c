/* The daemon's log (log.h). */
#include "fs/log.h"

#include <stdarg.h>
#include <stdio.h>

static int to_stderr = 1;

void log_to_stderr(int yes) {
    if (!yes && to_stderr) openlog("llmfs", LOG_PID, LOG_DAEMON);
    to_stderr = yes;
}

void log_msg(int priority, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (to_stderr) fprintf(stderr, "llmfs: %s\n", line);
    else syslog(priority, "%s", line);
}
