export { orderWorkflow } from './order';
export { baselineWorkflow } from './baseline';
