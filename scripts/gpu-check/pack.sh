#!/usr/bin/env bash
# Packs into .device/ (ignored by git) what a machine with an OpenCL GPU but no JDK and no build tools needs to run
# the OpenCL checks with run.sh: a jlink'ed JDK 25, the built jars and test classes, a JUnit runner, the OpenCL ICD
# loader of this machine, and the real stories260K model and text the end-to-end test reads. About 46 MB.
# Usage (from anywhere, on the build machine): scripts/gpu-check/pack.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
JDK="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
[ -x "$JDK/bin/jlink" ] || { echo "pack: no JDK 25 with jlink at $JDK (set JAVA_HOME)" >&2; exit 1; }
SHARED="${TOKENBUTLER_SHARED:-$ROOT/../shared}"
for f in models/stories260K/stories260K.gguf data/tinystories/valid.txt; do
  [ -f "$SHARED/$f" ] || { echo "pack: expected $SHARED/$f (set TOKENBUTLER_SHARED)" >&2; exit 1; }
done
ICD="$(ldconfig -p | awk '/libOpenCL\.so\.1 .*x86-64/ {print $NF; exit}')"
[ -n "$ICD" ] || { echo "pack: no OpenCL ICD loader (libOpenCL.so.1) on this machine (apt-get install ocl-icd-libopencl1)" >&2; exit 1; }
export JAVA_HOME="$JDK" PATH="$JDK/bin:$PATH"
MVN=(mvn -B -q -ntp ${MVN_FLAGS:-})
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"

"${MVN[@]}" -DskipTests -Dmaven.javadoc.skip=true install
OUT="$ROOT/.device"
rm -rf "$OUT.new"
mkdir -p "$OUT.new"/{lib,lib-test,opencl,runner,shared/models,shared/data/tinystories}
# The modules the runtime, the plugin, the tools and the tests use (jdeps: java.desktop for the output files' checks), less
# jdk.compiler (tests of the examples).
jlink --add-modules java.base,java.desktop,java.logging,java.management,java.sql,jdk.incubator.vector,jdk.unsupported \
    --strip-debug --no-header-files --no-man-pages --output "$OUT.new/jdk"
tar czf "$OUT.new/jdk.tgz" -C "$OUT.new" jdk
rm -rf "$OUT.new/jdk"
# The tools' classpath, as the launcher builds it.
cp gguf-tools/target/lib/*.jar "$OUT.new/lib/"
(cd gguf-tools/target/classes && "$JDK/bin/jar" cf "$OUT.new/lib/tokenbutler-tools.jar" .)
# The plugin's test classpath, and the JUnit launcher of the same platform version.
"${MVN[@]}" dependency:build-classpath -pl plugin -Dmdep.outputFile="$OUT.new/test-classpath.txt" >/dev/null
tr ":" "\n" < "$OUT.new/test-classpath.txt" | while read -r j || [ -n "$j" ]; do [ -f "$j" ] && cp "$j" "$OUT.new/lib-test/"; done
platform="$(ls "$OUT.new"/lib-test/junit-platform-engine-*.jar | sed 's/.*junit-platform-engine-\(.*\)\.jar/\1/')"
"${MVN[@]}" dependency:copy -Dartifact="org.junit.platform:junit-platform-launcher:$platform" -DoutputDirectory="$OUT.new/lib-test" >/dev/null
rm "$OUT.new/test-classpath.txt"
cp -r plugin/target/test-classes "$OUT.new/plugin-test-classes"
cp gguf-tools/target/lib/tokenbutler-plugin-*.jar "$OUT.new/lib-test/"
javac -d "$OUT.new/runner" -cp "$OUT.new/lib-test/*" scripts/gpu-check/RunTests.java
cp -L "$ICD" "$OUT.new/opencl/libOpenCL.so.1"
cp -r "$SHARED/models/stories260K" "$OUT.new/shared/models/"
cp "$SHARED/data/tinystories/valid.txt" "$OUT.new/shared/data/tinystories/"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
echo "pack: $(du -sh "$OUT" | cut -f1) in .device/; carry .device and run scripts/gpu-check/run.sh RESULTS_DIR on the GPU machine"
