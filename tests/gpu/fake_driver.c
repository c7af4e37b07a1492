/* fake_driver.c: an empty shared object named libcuda.so.1, put on LD_LIBRARY_PATH by
 * test_cuda_module.sh to stand for an NVIDIA driver that CUDA cannot use (as one older than the
 * runtime): the core's driver check passes, the CUDA module is loaded for real, and cudart
 * fails to initialise. Exports nothing the runtime looks for. */
int cxr_fake_libcuda_marker(void);
int cxr_fake_libcuda_marker(void) { return 0; }
