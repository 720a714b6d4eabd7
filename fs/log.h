/* The daemon's log: stderr in the foreground (-f, -d), syslog (facility
 * daemon, tag "llmfs") once detached.  One line at start, one per refused
 * prompt, one at exit: what an operator needs, never per token. */
#ifndef LLMFS_LOG_H
#define LLMFS_LOG_H
#include <syslog.h>

/* Where lines go from now on: 1 stderr, 0 syslog. */
void log_to_stderr(int yes);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
