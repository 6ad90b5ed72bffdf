// Exact rational numbers (bigint numerator/denominator) for checking Countdown answers without floats.

export class Rational {
  /** Always in lowest terms with a positive denominator, so equal values have equal fields. */
  private constructor(readonly num: bigint, readonly den: bigint) {}

  static of(num: bigint | number, den: bigint | number = 1n): Rational {
    let n = BigInt(num);
    let d = BigInt(den);
    if (d === 0n) throw new RangeError('rational: division by zero');
    if (d < 0n) { n = -n; d = -d; }
    const g = gcd(n < 0n ? -n : n, d);
    return new Rational(n / g, d / g);
  }

  add(o: Rational): Rational { return Rational.of(this.num * o.den + o.num * this.den, this.den * o.den); }
  sub(o: Rational): Rational { return Rational.of(this.num * o.den - o.num * this.den, this.den * o.den); }
  mul(o: Rational): Rational { return Rational.of(this.num * o.num, this.den * o.den); }
  /** Throws RangeError on division by zero; callers that treat it as a wrong answer catch it. */
  div(o: Rational): Rational { return Rational.of(this.num * o.den, this.den * o.num); }

  isInteger(): boolean { return this.den === 1n; }
  equals(o: Rational): boolean { return this.num === o.num && this.den === o.den; }
  toString(): string { return this.den === 1n ? `${this.num}` : `${this.num}/${this.den}`; }
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a === 0n ? 1n : a;
}
