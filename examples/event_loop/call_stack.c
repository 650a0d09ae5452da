/*
 * The call stack, from the tutorial's "The Event Loop" section: functions called one after
 * the other run to completion in order, each pushed on the stack and popped when it returns.
 *
 *   function first() {
 *       console.log(1);
 *   }
 *
 *   function second() {
 *       console.log(2);
 *   }
 *
 *   function third() {
 *       console.log(3);
 *   }
 *
 *   first();
 *   second();
 *   third();
 *
 * Prints 1, 2, 3, one per line. Nothing here needs the loop: plain synchronous code runs the
 * same in C and in JavaScript. first_second_third.c is the same program with a timer.
 */
#include <stdio.h>

static void first(void)
{
    printf("%d\n", 1);
}

static void second(void)
{
    printf("%d\n", 2);
}

static void third(void)
{
    printf("%d\n", 3);
}

int main(void)
{
    first();
    second();
    third();
    return 0;
}
