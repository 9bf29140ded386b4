/**
 * @huggingface/jinja's interpreter, plus the Python string method `str.format`
 * that some chat templates call (Tencent Hy3 builds its special tokens with
 * `'<｜hy_eos{}｜>'.format(HYTK)`) and the library lacks.
 *
 * Only the public `evaluate` is overridden. The runtime value classes are not
 * exported, so we take their constructors from values an Environment makes.
 */
import { Environment, Interpreter } from '@huggingface/jinja';

type RuntimeValue = ReturnType<Interpreter['evaluate']>;
type Statement = Parameters<Interpreter['evaluate']>[0];
type NativeFunction = (args: RuntimeValue[], env: Environment) => RuntimeValue;

const probe = new Environment();
const StringValue = probe.set('s', '').constructor as new (value: string) => RuntimeValue;
const FunctionValue = probe.set('f', () => null).constructor as new (fn: NativeFunction) => RuntimeValue;

/** Python's str() of a template value, for the scalar types format fields hold. */
function pyStr(v: RuntimeValue): string {
  switch (v.type) {
    case 'BooleanValue':
      return v.value ? 'True' : 'False';
    case 'NullValue':
      return 'None';
    case 'UndefinedValue':
      return '';
    default:
      return String(v.value);
  }
}

/**
 * `template.format(*args, **kwargs)` with fields `{}`, `{0}` and `{name}` and
 * the escapes `{{` and `}}`. Format specs and conversions are not supported.
 */
export function pythonFormat(template: string, args: RuntimeValue[]): string {
  const last = args.at(-1);
  const kwargs =
    last?.type === 'KeywordArgumentsValue'
      ? (last.value as Map<string, RuntimeValue>)
      : new Map<string, RuntimeValue>();
  const positional = last?.type === 'KeywordArgumentsValue' ? args.slice(0, -1) : args;
  let auto = 0;
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (whole, field: string | undefined) => {
    if (whole === '{{') return '{';
    if (whole === '}}') return '}';
    const name = field ?? '';
    if (/[:!]/.test(name)) throw new Error(`str.format: format specs are not supported ({${name}})`);
    let value: RuntimeValue | undefined;
    if (name === '') value = positional[auto++];
    else if (/^\d+$/.test(name)) value = positional[Number(name)];
    else value = kwargs.get(name);
    if (value === undefined) throw new Error(`str.format: no argument for {${name}}`);
    return pyStr(value);
  });
}

export class ChatInterpreter extends Interpreter {
  override evaluate(statement: Statement, environment: Environment): RuntimeValue {
    const s = statement as unknown as {
      type: string;
      computed?: boolean;
      object?: Statement;
      property?: { type: string; value: unknown };
    };
    if (
      s?.type === 'MemberExpression' &&
      !s.computed &&
      s.property?.type === 'Identifier' &&
      s.property.value === 'format'
    ) {
      const object = super.evaluate(s.object, environment);
      if (object.type === 'StringValue') {
        const text = object.value as string;
        return new FunctionValue((args) => new StringValue(pythonFormat(text, args)));
      }
      // not a string: `x.format` is an ordinary attribute (e.g. a JSON schema's "format")
    }
    return super.evaluate(statement, environment);
  }
}
