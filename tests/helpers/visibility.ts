import type { Client } from '@temporalio/client';

/**
 * Whether the workflow shows up in a visibility query, as ops would list it in the Temporal UI. Visibility is
 * eventually consistent, so the query is polled for a while before the answer is no.
 */
export async function visible(client: Client, query: string, workflowId: string): Promise<boolean> {
  for (let i = 0; i < 50; i += 1) {
    for await (const found of client.workflow.list({ query: `${query} AND WorkflowId = '${workflowId}'` })) {
      if (found.workflowId === workflowId) return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
