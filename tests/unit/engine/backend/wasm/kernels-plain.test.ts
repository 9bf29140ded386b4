// kernels.test.ts's tests again, against the SIMD128-only build of the kernels
// (kernels.test.ts itself takes the relaxed-SIMD build): both must stay bit for
// bit the reference backend's.
import { wantPlainKernels } from './build.ts';

wantPlainKernels();
await import('./kernels.test.ts');
