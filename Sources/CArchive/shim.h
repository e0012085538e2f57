#ifndef LCM_CARCHIVE_SHIM_H
#define LCM_CARCHIVE_SHIM_H

#include <archive.h>
#include <archive_entry.h>

/* The AE_IF* macros are casts, which Swift does not import; mirror them as plain constants. */
static const unsigned int CARCHIVE_AE_IFMT = 0170000;
static const unsigned int CARCHIVE_AE_IFREG = 0100000;
static const unsigned int CARCHIVE_AE_IFLNK = 0120000;
static const unsigned int CARCHIVE_AE_IFSOCK = 0140000;
static const unsigned int CARCHIVE_AE_IFCHR = 0020000;
static const unsigned int CARCHIVE_AE_IFBLK = 0060000;
static const unsigned int CARCHIVE_AE_IFDIR = 0040000;
static const unsigned int CARCHIVE_AE_IFIFO = 0010000;

#endif
