/* Functions c360 code must not call (git's banned.h): include this last. */
#ifndef C360_CORE_BANNED_H
#define C360_CORE_BANNED_H

#define C360_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) C360_BANNED(strcpy)
#undef strcat
#define strcat(x, y) C360_BANNED(strcat)
#undef strtok
#define strtok(x, y) C360_BANNED(strtok)
#undef sprintf
#define sprintf(...) C360_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) C360_BANNED(vsprintf)
#undef atoi
#define atoi(x) C360_BANNED(atoi)
#undef atol
#define atol(x) C360_BANNED(atol)
#undef gets
#define gets(x) C360_BANNED(gets)

#endif
