import type {ErrorDetail} from './json.js'

const BANG = ' ›   '

/**
 * An error as seneka prints it on stderr: "Error: ..." and "Try this: ...", each one line however long. Never
 * wrapped at a column count: a path or a command cut in two cannot be copied and pasted (the terminal wraps
 * long lines on its own).
 */
export function renderErrorText(detail: Pick<ErrorDetail, 'message' | 'suggestion'>): string {
  const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ')
  return [`${BANG}Error: ${oneLine(detail.message)}`, ...(detail.suggestion ? [`${BANG}Try this: ${oneLine(detail.suggestion)}`] : [])].join('\n')
}
