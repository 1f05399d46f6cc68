import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The demo's small shop package. Its bug (a percentage used as a fraction) has an obvious but
 * wrong fix that rounds prices, which an existing test catches: the demo shows the agent's
 * verdict refusing a patch that breaks a neighbouring test, then reflecting and proving the real fix.
 */
export const DEMO_FILES: Readonly<Record<string, string>> = {
  'README.md': '# shop\n\nPrices, discounts and stock for a small online shop.\n',
  'shop/__init__.py':
    '"""A small online shop: prices, discounts and stock."""\nfrom .inventory import Inventory\nfrom ' +
    '.pricing import apply_discount, order_total\n\n__all__ = ["Inventory", "apply_discount", "order_total"]\n',
  'shop/pricing.py': [
    '"""Prices and discounts at checkout."""',
    '',
    '',
    'def apply_discount(price, percent):',
    '    """Return ``price`` reduced by ``percent`` per cent (0 to 100)."""',
    '    if not 0 <= percent <= 100:',
    '        raise ValueError(f"percent must be between 0 and 100, got {percent}")',
    '    return price - price * percent',
    '',
    '',
    'def order_total(prices, percent=0):',
    '    """Return the total of ``prices`` after the discount, rounded to cents."""',
    '    return round(sum(apply_discount(p, percent) for p in prices), 2)',
    '',
  ].join('\n'),
  'shop/inventory.py': [
    '"""Stock kept per product code."""',
    '',
    '',
    'class Inventory:',
    '    """How many of each product the shop holds."""',
    '',
    '    def __init__(self):',
    '        self._stock = {}',
    '',
    '    def add(self, code, count=1):',
    '        if count < 1:',
    '            raise ValueError("count must be at least 1")',
    '        self._stock[code] = self._stock.get(code, 0) + count',
    '',
    '    def remove(self, code, count=1):',
    '        held = self._stock.get(code, 0)',
    '        if count > held:',
    '            raise KeyError(f"only {held} of {code} in stock")',
    '        self._stock[code] = held - count',
    '',
    '    def count(self, code):',
    '        return self._stock.get(code, 0)',
    '',
  ].join('\n'),
  'tests/test_pricing.py': [
    'import pytest',
    '',
    'from shop import apply_discount, order_total',
    '',
    '',
    'def test_no_discount_keeps_the_price():',
    '    assert apply_discount(19.99, 0) == 19.99',
    '',
    '',
    'def test_rejects_a_percent_over_100():',
    '    with pytest.raises(ValueError):',
    '        apply_discount(10, 150)',
    '',
    '',
    'def test_order_total_without_discount():',
    '    assert order_total([1.25, 2.50]) == 3.75',
    '',
  ].join('\n'),
  'tests/test_inventory.py': [
    'import pytest',
    '',
    'from shop import Inventory',
    '',
    '',
    'def test_add_and_remove():',
    '    stock = Inventory()',
    '    stock.add("tea", 3)',
    '    stock.remove("tea")',
    '    assert stock.count("tea") == 2',
    '',
    '',
    'def test_cannot_remove_more_than_held():',
    '    stock = Inventory()',
    '    with pytest.raises(KeyError):',
    '        stock.remove("tea")',
    '',
  ].join('\n'),
};

/** The issue the demo solves, as a user would file it. */
export const DEMO_ISSUE = [
  'Discounts are wildly wrong',
  '',
  '`apply_discount(200, 10)` returns -1800 instead of 180: a 10% discount on a price of 200 should',
  'give 180. It looks as if the percentage is used as a fraction.',
].join('\n');

/** Writes the demo repository into `dir` (which must not exist or be empty) as one git commit. */
export function writeDemoRepository(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [path, text] of Object.entries(DEMO_FILES)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=fixwright demo', '-c', 'user.email=demo@fixwright.invalid', ...args], {
      cwd: dir,
      stdio: 'pipe',
    });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'shop: prices, discounts and stock');
}
