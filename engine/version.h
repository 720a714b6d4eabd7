/* The version every llmfs program prints with --version and the daemon
 * shows in stats/engine. */
#ifndef LLMFS_VERSION_H
#define LLMFS_VERSION_H
#define LLMFS_VERSION "0.4.0"
#endif
