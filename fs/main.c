/* main: dswfs's entry point (placeholder until the filesystem lands). */
#include <stdio.h>

int main(void)
{
	puts("dswfs " DSWFS_VERSION);
	return 0;
}
