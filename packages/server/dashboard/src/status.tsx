/** A status as colour and text (the text is always there: colour alone says nothing to some). */
export function StatusBadge({ status }: { status: string }) {
  return (
    <span class={`badge st-${status}`}>
      <span class="dot" aria-hidden="true" />
      {status}
    </span>
  );
}

export const EXECUTION_STATUSES = [
  'QUEUED',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
] as const;
