// libxcrypt (Debian's libcrypt1): bcrypt hashing as htpasswd files use it ($2y$, $2b$, $2a$).
#include <crypt.h>
