import type {Value} from '../../../formats/types.js'
import {colonOf, COLUMNS_OF, DASH, doubleAt, ends, type FieldKind, intAt, LB_LAYOUTS, type LbLayout, ordinaryFields, splitLine, starts, timestampAt} from '../../../formats/lb-bytes.js'
import {type ByteSink, KIND, type RowWriter} from './row-writer.js'

/**
 * Write API rows of ALB and ELB lines written straight from the line's bytes: no string per field, no number
 * parsed from a string, no parsed row in between (the parse workers' main cost on these formats). Only a line the
 * byte scanner proves plainly ordinary (formats/lb-bytes.ts) is written here; any other goes to the format's
 * parser and RowWriter, so the bytes are the parser path's exactly (test/lib/warehouse/write-api-lb-rows.test.ts).
 */

const SP = 0x20

/** the protobuf field kind each column of a field kind needs */
const FIELD_TYPES: Record<FieldKind, number[]> = {
  type: [KIND.TYPE_STRING],
  str: [KIND.TYPE_STRING],
  ts: [KIND.TYPE_INT64],
  hostport: [KIND.TYPE_STRING, KIND.TYPE_INT64],
  double: [KIND.TYPE_DOUBLE],
  int: [KIND.TYPE_INT64],
  bigint: [KIND.TYPE_INT64],
  request: [KIND.TYPE_STRING, KIND.TYPE_STRING, KIND.TYPE_STRING],
}

/** the most digits a bigint may have to be read exactly as a double (beyond: the parser's decimal string) */
const EXACT_DIGITS = 15

export class LbRowWriter {
  /** the time column's value of the last row written (microseconds) */
  time = 0

  private constructor(
    private readonly writer: RowWriter,
    private readonly layout: LbLayout,
    /** the format's columns (the values after them are the row's own: provenance, line) */
    private readonly width: number,
    private readonly timeColumn: number,
  ) {}

  /**
   * A writer for `format` when its lines can be read on their bytes into this row descriptor: a known layout, and
   * every column's field of the kind the layout gives it (a table whose schema differs goes through the parser).
   */
  static for(format: string, writer: RowWriter, width: number, timeColumn: number): LbRowWriter | undefined {
    const layout = LB_LAYOUTS[format]
    if (!layout) return undefined
    const kinds = layout.kinds.flatMap((k) => FIELD_TYPES[k])
    if (kinds.length !== width || kinds.some((k, i) => writer.fields[i]?.kind !== k)) return undefined
    return new LbRowWriter(writer, layout, width, timeColumn)
  }

  /**
   * Appends the row of line b[s..e) with `values` after the format's columns (RowWriter.writeFrom) and returns
   * true, or writes nothing and returns false when the parser must read the line.
   */
  write(sink: ByteSink, b: Buffer, s: number, e: number, values: ArrayLike<Value | undefined>): boolean {
    const nf = splitLine(b, s, e)
    if (nf < 0 || !ordinaryFields(b, this.layout, nf)) return false
    sink.row()
    if (this.columns(sink, b, nf) && this.writer.writeFrom(sink, values, this.width)) return true
    sink.pos = sink.rowStart
    return false
  }

  /** the format's columns from the fields (as the parser gives them: "-" NULL, a missing trailing field NULL) */
  private columns(sink: ByteSink, b: Buffer, nf: number): boolean {
    const w = this.writer
    const kinds = this.layout.kinds
    let col = 0
    for (let f = 0; f < kinds.length; col += COLUMNS_OF[kinds[f]], f++) {
      if (f >= nf) continue
      const fs = starts[f]
      const fe = ends[f]
      if (fe - fs === 1 && b[fs] === DASH && kinds[f] !== 'type') continue
      switch (kinds[f]) {
        case 'type':
        case 'str':
          w.bytesField(sink, col, b, fs, fe)
          break
        case 'ts': {
          const us = timestampAt(b, fs, fe)
          if (Number.isNaN(us)) return false
          w.int64Field(sink, col, us)
          if (col === this.timeColumn) this.time = us
          break
        }
        case 'hostport': {
          const c = colonOf(b, fs, fe)
          w.bytesField(sink, col, b, fs, c)
          w.int64Field(sink, col + 1, intAt(b, c + 1, fe))
          break
        }
        case 'double':
          w.doubleField(sink, col, doubleAt(b, fs, fe))
          break
        case 'int':
          w.int64Field(sink, col, intAt(b, fs, fe))
          break
        case 'bigint':
          if (fe - fs - (b[fs] === DASH ? 1 : 0) > EXACT_DIGITS) return false
          w.int64Field(sink, col, intAt(b, fs, fe))
          break
        case 'request': {
          // VERB URL PROTO (exactly two spaces: ordinaryFields); an empty part or "-" is NULL, as request() gives it
          const s1 = b.indexOf(SP, fs)
          const s2 = b.indexOf(SP, s1 + 1)
          this.part(sink, col, b, fs, s1)
          this.part(sink, col + 1, b, s1 + 1, s2)
          this.part(sink, col + 2, b, s2 + 1, fe)
          break
        }
      }
    }
    return true
  }

  private part(sink: ByteSink, col: number, b: Buffer, s: number, e: number): void {
    if (e === s || (e - s === 1 && b[s] === DASH)) return
    this.writer.bytesField(sink, col, b, s, e)
  }
}
