// zlib (Debian's zlib1g): inflating the gzip layer of a Helm chart's .tgz.
#include <zlib.h>
