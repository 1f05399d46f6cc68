export {
  calibrate,
  CONFORMAL_METHODS,
  conformalQuantile,
  crossFit,
  loadCalibration,
  nonconformity,
  predictionSet,
  saveCalibration,
  type Calibration,
  type ConformalMethod,
  type CrossFitResult,
  type ScoredFile,
} from './conformal.js';
