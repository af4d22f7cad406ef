// OpenSSL's libcrypto (Debian's libssl-dev): SHA-256 and SHA-512 whose running state is a plain struct, so that an
// upload's hash can be saved between requests and carried on by another instance. swift-crypto keeps it opaque.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
