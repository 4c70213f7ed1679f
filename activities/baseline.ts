export interface BaselineActivities {
  noop(step: number): Promise<number>;
}

export const baselineActivities: BaselineActivities = {
  async noop(step) {
    return step;
  },
};
