// Deliberately does not compile: OpenClFailuresTest checks that the build log reaches the exception.
__kernel void broken(__global float* out) {
    out[get_global_id(0)] = undeclared_identifier_for_the_test;
}
