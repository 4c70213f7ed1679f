export { orderWorkflow } from './order';
export { baselineWorkflow, floorWorkflow } from './baseline';
export { refundWorkflow } from './refund';
export { returnWorkflow } from './return';
export { complaintWorkflow } from './complaint';
export { notificationDigestWorkflow } from './digest';
