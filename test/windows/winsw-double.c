/*
 * A stand-in for WinSW's command line, for test/windows/service.test.ts only. WinSW itself (a .NET
 * program that registers with the Service Control Manager) does not run under Wine, so the test
 * checks what telbridge does around it: `status` answers NonExistent until `install` was called,
 * then Stopped; every call's verb is appended to <exe>.calls. Built with mingw.
 */
#include <stdio.h>
#include <string.h>
#include <windows.h>

int main(int argc, char **argv) {
  char self[MAX_PATH], marker[MAX_PATH + 16], calls[MAX_PATH + 16];
  GetModuleFileNameA(NULL, self, MAX_PATH);
  snprintf(marker, sizeof marker, "%s.installed", self);
  snprintf(calls, sizeof calls, "%s.calls", self);
  const char *verb = argc > 1 ? argv[1] : "";
  FILE *f = fopen(calls, "ab");
  if (f) {
    fprintf(f, "%s\n", verb);
    fclose(f);
  }
  int installed = GetFileAttributesA(marker) != INVALID_FILE_ATTRIBUTES;
  if (!strcmp(verb, "status")) {
    puts(installed ? "Stopped" : "NonExistent");
    return 0;
  }
  if (!strcmp(verb, "install")) {
    if ((f = fopen(marker, "wb"))) fclose(f);
    puts("Service 'telbridge' was installed successfully.");
    return 0;
  }
  if (!strcmp(verb, "uninstall")) {
    DeleteFileA(marker);
    return 0;
  }
  return strcmp(verb, "start") && strcmp(verb, "stop") ? 1 : 0;
}
