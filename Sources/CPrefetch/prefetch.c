// Header-only target; see include/prefetch.h.
