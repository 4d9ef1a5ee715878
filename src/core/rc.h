/* c360_rc: the one return-code type of c360 (0 = OK), like curl's CURLcode. */
#ifndef C360_CORE_RC_H
#define C360_CORE_RC_H

typedef enum c360_rc {
	C360_OK = 0,
	C360_ERR_NOMEM,       /* allocation failed */
	C360_ERR_INVALID,     /* bad input or argument (message in the caller's errbuf) */
	C360_ERR_NOT_FOUND,   /* key, bucket, function, connector… does not exist */
	C360_ERR_EXISTS,      /* insert of a key / create of a bucket that exists */
	C360_ERR_CAS,         /* CAS mismatch */
	C360_ERR_TOO_BIG,     /* a capped buffer or a size limit was exceeded */
	C360_ERR_IO,          /* read/write/network failure */
	C360_ERR_CORRUPT,     /* a file is not what it should be (not a c360 store, damaged) */
	C360_ERR_LIMIT,       /* depth, row or time limit reached */
	C360_ERR_TIMEOUT,     /* an operation took longer than allowed */
	C360_ERR_BUSY,        /* resource busy; try again */
	C360_ERR_UNSUPPORTED, /* valid request c360 does not support */
	C360_ERR_STATE,       /* operation not allowed in the current state */
	C360_ERR_DENIED,      /* refused by policy (read-only, auth, recursion) */
	C360_ERR_INTERNAL,    /* a bug: should not happen */
	C360_RC_COUNT
} c360_rc;

/* Returns a static, lower-case, human-readable name for rc ("not found"). */
const char *c360_rc_str(c360_rc rc);

#endif
